#!/usr/bin/env bash
# Entry point of the hoomd-mlx image.
#   campaign|predict|demo ...   hoomd-mlx subcommands
#   worker [dask worker args]   a Dask worker for $DASK_SCHEDULER_ADDRESS (health endpoint on $DASK_WORKER_DASHBOARD_PORT)
#   scheduler [args]            a Dask scheduler
#   healthcheck                 exit 0 when healthy: a worker answers /health; other roles are always healthy
#   anything else               run it (python, bash, ...)
set -euo pipefail

case "${1:---help}" in
  campaign|predict|demo|-h|--help|-v|-vv)
    exec hoomd-mlx "$@" ;;
  worker)
    shift
    export HOOMD_MLX_ROLE=worker
    exec dask worker "${DASK_SCHEDULER_ADDRESS:?set DASK_SCHEDULER_ADDRESS to tcp://host:8786}" \
      --nthreads "${DASK_WORKER_THREADS:-1}" \
      --dashboard-address ":${DASK_WORKER_DASHBOARD_PORT:-8789}" "$@" ;;
  scheduler)
    shift
    export HOOMD_MLX_ROLE=scheduler
    exec dask scheduler "$@" ;;
  healthcheck)
    if [ "${HOOMD_MLX_ROLE:-client}" != "worker" ]; then
      exit 0
    fi
    exec python -c '
import os, sys, urllib.request
url = "http://127.0.0.1:%s/health" % os.environ.get("DASK_WORKER_DASHBOARD_PORT", "8789")
try:
    ok = urllib.request.urlopen(url, timeout=5).read().strip() == b"ok"
except OSError as err:
    print("unhealthy: %s: %s" % (url, err), file=sys.stderr)
    sys.exit(1)
sys.exit(0 if ok else 1)
' ;;
  *)
    exec "$@" ;;
esac
