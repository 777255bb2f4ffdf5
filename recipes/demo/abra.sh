#!/bin/bash
# shellcheck disable=SC2034

# The image has no shell, so run this on the machine running abra:
#   abra app cmd --local <domain> hello
hello() {
  echo "hello from the demo recipe"
}
