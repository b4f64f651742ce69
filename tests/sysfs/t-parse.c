/* t-parse.c - unit tests of the sysfs readers, number parsing, /proc parsers and the TDP table. */
/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "cpuinfo.h"
#include "fake-tree.h"
#include "sysfs.h"
#include "tap.h"

/* s with newlines and tabs shown as \n and \t, for a one-line TAP description. */
static const char *esc(const char *s)
{
	static char buf[128];
	size_t j = 0;

	for (; *s && j + 3 < sizeof(buf); s++) {
		if (*s == '\n' || *s == '\t') {
			buf[j++] = '\\';
			buf[j++] = *s == '\n' ? 'n' : 't';
		} else {
			buf[j++] = *s;
		}
	}
	buf[j] = '\0';
	return buf;
}

static void test_parse_u64(void)
{
	static const struct {
		const char *in;
		int rc;
		uint64_t v;
	} cases[] = {
		{ "0", 0, 0 },
		{ "42", 0, 42 },
		{ "42\n", 0, 42 },
		{ "  42 \n", 0, 42 },
		{ "\t7", 0, 7 },
		{ "262143328850\n", 0, 262143328850ull },
		{ "18446744073709551615", 0, UINT64_MAX },
		{ "18446744073709551616", -ERANGE, 0 },
		{ "99999999999999999999999", -ERANGE, 0 },
		{ "", -EINVAL, 0 },
		{ "\n", -EINVAL, 0 },
		{ "-1", -EINVAL, 0 },
		{ "+1", -EINVAL, 0 },
		{ "12abc", -EINVAL, 0 },
		{ "12 13", -EINVAL, 0 },
		{ "0x10", -EINVAL, 0 },
		{ "abc", -EINVAL, 0 },
		{ "1.5", -EINVAL, 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int rc = nrg_parse_u64(cases[i].in, &v);
		is_i64(rc, cases[i].rc, "parse_u64 '%s' returns %d", esc(cases[i].in), cases[i].rc);
		if (cases[i].rc == 0)
			ok(v == cases[i].v, "parse_u64 '%s' = %llu", esc(cases[i].in), (unsigned long long)cases[i].v);
		else
			is_i64(v, 12345, "parse_u64 '%s' leaves the output alone on error", esc(cases[i].in));
	}
}

static void test_files(const char *dir)
{
	char path[PATH_MAX], buf[16];
	uint64_t v = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/a", dir);
	fk_write(path, 0, "package-0\n");
	is_i64(nrg_sysfs_read_str(path, buf, sizeof(buf)), 9, "read_str returns the length without newline");
	is_str(buf, "package-0", "read_str strips the trailing newline");

	fk_write(path, 0, "0123456789abcde\n"); /* 15 chars + newline: fits a 16-byte buffer */
	is_i64(nrg_sysfs_read_str(path, buf, sizeof(buf)), 15, "read_str: exactly full buffer plus newline fits");
	fk_write(path, 0, "0123456789abcdef\n");
	is_i64(nrg_sysfs_read_str(path, buf, sizeof(buf)), -E2BIG, "read_str: longer than the buffer is -E2BIG");
	fk_write(path, 0, "0123456789abcde\nX");
	is_i64(nrg_sysfs_read_str(path, buf, sizeof(buf)), -E2BIG, "read_str: data after a full line is -E2BIG");
	fk_write(path, 0, "%s", "");
	is_i64(nrg_sysfs_read_str(path, buf, sizeof(buf)), 0, "read_str of an empty file is 0");

	snprintf(path, sizeof(path), "%s/missing", dir);
	is_i64(nrg_sysfs_read_str(path, buf, sizeof(buf)), -ENOENT, "read_str of a missing file is -ENOENT");
	is_i64(nrg_sysfs_read_u64(path, &v), -ENOENT, "read_u64 of a missing file is -ENOENT");

	snprintf(path, sizeof(path), "%s/n", dir);
	fk_write(path, 0, "262143328850\n");
	is_i64(nrg_sysfs_read_u64(path, &v), 0, "read_u64 ok");
	ok(v == 262143328850ull, "read_u64 value");
	fk_write(path, 0, "garbage\n");
	is_i64(nrg_sysfs_read_u64(path, &v), -EINVAL, "read_u64 of garbage is -EINVAL");
	fk_write(path, 0, "%0100d\n", 1);
	is_i64(nrg_sysfs_read_u64(path, &v), -EINVAL, "read_u64 of an over-long file is -EINVAL");

	fk_write(path, 0, "1000\n");
	fd = open(path, O_RDONLY);
	is_i64(nrg_sysfs_pread_u64(fd, &v), 0, "pread_u64 ok");
	is_i64(v, 1000, "pread_u64 value");
	fk_write(path, 0, "2000000\n"); /* rewritten in place: the same inode */
	is_i64(nrg_sysfs_pread_u64(fd, &v), 0, "pread_u64 again on the kept fd");
	is_i64(v, 2000000, "pread_u64 sees the new value from offset 0");
	fk_write(path, 0, "%s", "");
	is_i64(nrg_sysfs_pread_u64(fd, &v), -ENODATA, "pread_u64 of an empty file is -ENODATA");
	close(fd);
	is_i64(nrg_sysfs_pread_u64(fd, &v), -EBADF, "pread_u64 of a closed fd is -EBADF");
}

static const char table[] =
	"# comment\tline\t1\n"
	"\n"
	"Gold 6338\t205\tIce Lake\n"
	"Gold 6338N\t185\tIce Lake, network\n"
	"EPYC 7763\t280\tMilan\n"
	"i7-12700\t65\tAlder Lake\n"
	"i7-12700K\t125\tAlder Lake K\n"
	"Platinum 8480+\t350\tSapphire Rapids\n"
	"broken row without tab\n"
	"EPYC 9654\tlots\tbad watts\n"
	"EPYC 9654\t-5\tnegative\n"
	"Ryzen 9 7950X\t170";

static void test_tdp(const char *dir)
{
	static const struct {
		const char *model;
		int rc;
		double w;
		const char *pat;
	} cases[] = {
		{ "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", 0, 205, "Gold 6338" },
		{ "Intel(R) Xeon(R) Gold 6338N CPU @ 2.20GHz", 0, 185, "Gold 6338N" },
		{ "AMD EPYC 7763 64-Core Processor", 0, 280, "EPYC 7763" },
		{ "amd epyc 7763 64-core processor", 0, 280, "EPYC 7763" },
		{ "12th Gen Intel(R) Core(TM) i7-12700K", 0, 125, "i7-12700K" },
		{ "12th Gen Intel(R) Core(TM) i7-12700", 0, 65, "i7-12700" },
		{ "12th Gen Intel(R) Core(TM) i7-12700F", -ENOENT, 0, NULL },
		{ "Intel(R) Xeon(R) Platinum 8480+", 0, 350, "Platinum 8480+" },
		{ "AMD EPYC 77630 Processor", -ENOENT, 0, NULL },
		{ "AMD EPYC 9654 96-Core Processor", -ENOENT, 0, NULL },
		{ "AMD Ryzen 9 7950X 16-Core Processor", 0, 170, "Ryzen 9 7950X" },
		{ "AMD EPYC", -ENOENT, 0, NULL },
		{ "", -ENOENT, 0, NULL },
	};
	char path[PATH_MAX], pat[64];
	double w;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		w = -1;
		pat[0] = '\0';
		is_i64(nrg_tdp_lookup(table, cases[i].model, &w, pat, sizeof(pat)), cases[i].rc, "tdp '%s' rc",
		       cases[i].model);
		if (cases[i].rc == 0) {
			is_near(w, cases[i].w, 1e-9, "tdp '%s' watts", cases[i].model);
			is_str(pat, cases[i].pat, "tdp '%s' pattern", cases[i].model);
		}
	}

	snprintf(path, sizeof(path), "%s/cpu-tdp.tsv", dir);
	fk_write(path, 0, "%s", table);
	is_i64(nrg_tdp_lookup_file(path, "AMD EPYC 7763 64-Core Processor", &w, NULL, 0), 0, "tdp from a file");
	is_near(w, 280, 1e-9, "tdp from a file: watts");
	snprintf(path, sizeof(path), "%s/nope.tsv", dir);
	is_i64(nrg_tdp_lookup_file(path, "AMD EPYC 7763", &w, NULL, 0), -ENOENT, "tdp: missing file is -ENOENT");

	/* The shipped table parses and knows a few common parts. */
	{
		const char *src = getenv("NRG_SOURCE_DIR");
		if (src) {
			snprintf(path, sizeof(path), "%s/data/cpu-tdp.tsv", src);
			is_i64(nrg_tdp_lookup_file(path, "AMD EPYC 7763 64-Core Processor", &w, NULL, 0), 0,
			       "shipped table: EPYC 7763");
			is_near(w, 280, 1e-9, "shipped table: EPYC 7763 is 280 W");
			is_i64(nrg_tdp_lookup_file(path, "Intel(R) Xeon(R) Platinum 8380 CPU @ 2.30GHz", &w, NULL, 0), 0,
			       "shipped table: Platinum 8380");
			is_near(w, 270, 1e-9, "shipped table: Platinum 8380 is 270 W");
			is_i64(nrg_tdp_lookup_file(path, "AMD EPYC", &w, NULL, 0), -ENOENT,
			       "shipped table: no catch-all row");
			is_i64(nrg_tdp_lookup_file(path, "QEMU Virtual CPU version 2.5+", &w, NULL, 0), -ENOENT,
			       "shipped table: a virtual CPU matches nothing");
		}
	}
}

static void test_stat(void)
{
	struct nrg_cpu_times a, b;

	is_i64(nrg_proc_stat_parse("cpu  100 5 50 1000 20 1 2 3 40 0\ncpu0 1 2 3 4\n", &a), 0, "stat parse");
	is_i64(a.idle, 1020, "stat idle = idle + iowait");
	is_i64(a.total, 100 + 5 + 50 + 1000 + 20 + 1 + 2 + 3, "stat total leaves guest out (part of user)");
	is_i64(nrg_proc_stat_parse("cpu 1 2 3 4\n", &b), 0, "stat with 4 columns (old kernels)");
	is_i64(b.total, 10, "stat 4 columns total");
	is_i64(nrg_proc_stat_parse("cpu 1 2 3\n", &b), -EINVAL, "stat with 3 columns is -EINVAL");
	is_i64(nrg_proc_stat_parse("cpu0 1 2 3 4\n", &b), -EINVAL, "stat must start with the aggregate line");
	is_i64(nrg_proc_stat_parse("intr 1 2 3 4\n", &b), -EINVAL, "stat garbage");
	is_i64(nrg_proc_stat_parse("cpu  1 2 x 4\n", &b), -EINVAL, "stat non-number");
	is_i64(nrg_proc_stat_parse("", &b), -EINVAL, "stat empty");

	nrg_proc_stat_parse("cpu  100 0 0 900 0 0 0 0 0 0\n", &a);
	nrg_proc_stat_parse("cpu  175 0 25 1000 0 0 0 0 0 0\n", &b);
	is_near(nrg_cpu_util(&a, &b), 0.5, 1e-12, "util: 100 busy of 200 ticks");
	is_near(nrg_cpu_util(&a, &a), -1, 1e-12, "util: no ticks passed is -1");
	is_near(nrg_cpu_util(&b, &a), -1, 1e-12, "util: counters going back is -1");
	nrg_proc_stat_parse("cpu  100 0 0 1100 0 0 0 0 0 0\n", &b);
	is_near(nrg_cpu_util(&a, &b), 0.0, 1e-12, "util: idle only is 0");
	nrg_proc_stat_parse("cpu  300 0 0 900 0 0 0 0 0 0\n", &b);
	is_near(nrg_cpu_util(&a, &b), 1.0, 1e-12, "util: busy only is 1");
}

static void test_cpuinfo(void)
{
	struct nrg_cpuinfo ci;
	const char *two =
		"processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\n"
		"physical id\t: 0\n\n"
		"processor\t: 1\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\n"
		"physical id\t: 1\n\n"
		"processor\t: 2\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz\n"
		"physical id\t: 0\n\n"
		"processor\t: 3\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz  \n"
		"physical id\t: 1\n";

	is_i64(nrg_cpuinfo_parse(two, &ci), 0, "cpuinfo parse");
	is_i64(ci.cpus, 4, "cpuinfo: 4 processors");
	is_i64(ci.sockets, 2, "cpuinfo: 2 distinct physical ids");
	is_str(ci.model, "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "cpuinfo model name");
	is_str(ci.vendor_id, "GenuineIntel", "cpuinfo vendor_id");
	is_str(nrg_cpuinfo_vendor(&ci), "intel", "cpuinfo vendor intel");

	is_i64(nrg_cpuinfo_parse("processor : 0\nvendor_id : AuthenticAMD\nmodel name : AMD EPYC 7763 64-Core Processor\n",
				 &ci), 0, "cpuinfo without physical id (a VM)");
	is_i64(ci.sockets, 0, "cpuinfo: no physical id -> 0 sockets");
	is_str(nrg_cpuinfo_vendor(&ci), "amd", "cpuinfo vendor amd");
	/* ARM: no model name, no vendor_id */
	is_i64(nrg_cpuinfo_parse("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n", &ci), 0,
	       "cpuinfo of an ARM CPU");
	is_str(ci.model, "", "cpuinfo ARM: no model name");
	is_str(nrg_cpuinfo_vendor(&ci), "", "cpuinfo ARM: no vendor");
	is_i64(nrg_cpuinfo_parse("garbage\nmore garbage\n", &ci), -ENODATA, "cpuinfo garbage is -ENODATA");
	is_i64(nrg_cpuinfo_parse("model names : x\nprocessor0 : 1\n", &ci), -ENODATA,
	       "cpuinfo keys must match exactly");
}

int main(void)
{
	char dir[] = "/tmp/nrg-t-parse-XXXXXX";

	if (!mkdtemp(dir))
		skip_all("cannot create a temporary directory");
	test_parse_u64();
	test_files(dir);
	test_tdp(dir);
	test_stat();
	test_cpuinfo();
	fk_rmtree(dir);
	return done_testing();
}
