#!/usr/bin/env bash
# make demo: the longest end-to-end path that exists.
set -euo pipefail
./scalelab --version
