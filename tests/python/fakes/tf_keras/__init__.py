# tf_keras/__init__.py - a broken fake Keras (no Model, no callbacks) on which nrg's hook must fail harmlessly.
# SPDX-License-Identifier: MIT
value = 41
