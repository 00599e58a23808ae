# shellcheck shell=bash
# Changes nothing: the same rules as a second row, to see how far two rows
# of identical rules differ in one run.
true
