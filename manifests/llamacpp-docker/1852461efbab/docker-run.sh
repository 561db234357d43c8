#!/bin/sh
# Starts the same container as docker.json (`tuneops render` wrote this file; edit the
# experiment, not this file). The shell expands a leading ~ in volume paths at run time;
# a ./ volume path is relative to the folder this is run from (the repository root).
# trial: "1852461efbab"
docker run --detach --name tuneops-llamacpp-docker-1852461efbab --label io.tuneops.engine=llamacpp --label io.tuneops.experiment=llamacpp-docker --label io.tuneops.trial=1852461efbab --publish 8080/tcp --volume ./.cache/models:/models:ro ghcr.io/ggml-org/llama.cpp:server --model /models/tuneops-llama-small-q8_0-s0.gguf --alias tuneops-small --host 0.0.0.0 --port 8080 --batch-size 64 --ctx-size 2048 --no-warmup --parallel 1 --threads 1
