#!/bin/bash
# shellcheck disable=SC2034

# Bump when the file changes, so that a deploy creates a new swarm config
# (configs are immutable).
export TRAEFIK_YML_VERSION=v1
export FILE_PROVIDER_YML_VERSION=v1
