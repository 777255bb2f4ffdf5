#!/bin/bash
# shellcheck disable=SC2034

# Run with: abra app cmd <domain> app hello
hello() {
  echo "hello from $(hostname)"
}
