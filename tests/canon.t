#!/bin/bash
# Name canonicalisation and path building, without TLS or qmail.
exec "$(dirname "$0")/canon-test"
