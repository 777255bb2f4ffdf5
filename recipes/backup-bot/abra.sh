#!/bin/bash
# shellcheck disable=SC2034

# The image has no shell: run the backup service's verbs through abra
# (`abra app backup create <domain>`, `abra app backup ls <domain>`, …), which
# calls /backupbot in this app's container, or directly on the server:
#   docker exec <container> /backupbot ls --app <stack>
