# lightning/__init__.py - a fake `lightning` package for nrg's tests (the real one holds lightning.pytorch).
# SPDX-License-Identifier: MIT
