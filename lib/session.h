/* session.h - the session's internals shared by session.c, source.c and the recorder. */
/* SPDX-License-Identifier: MIT */
#ifndef NRG_SESSION_H
#define NRG_SESSION_H

#include "source.h"

#define NRG_MAX_DEVICES 256
#define NRG_MAX_CHANNELS 2048

extern const struct nrg_source_ops *const nrg_sources[];
extern const size_t nrg_n_sources;

struct nrg_session {
	struct nrg_options opt;
	char *opt_strings[6]; /* owned copies of the option strings */
	struct nrg_source *src; /* nrg_n_sources entries */
	size_t n_src;
	struct nrg_device_info *dev;
	size_t n_dev, cap_dev;
	struct nrg_channel_info *chan;
	size_t n_chan, cap_chan;
	struct nrg_source *probing; /* the source whose probe is running */
};

#endif
