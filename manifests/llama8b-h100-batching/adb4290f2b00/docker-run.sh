#!/bin/sh
# Starts the same container as docker.json (`tuneops render` wrote this file; edit the
# experiment, not this file). The shell expands a leading ~ in volume paths at run time;
# a ./ volume path is relative to the folder this is run from (the repository root).
# trial: "adb4290f2b00"
docker run --detach --name tuneops-llama8b-h100-batching-adb4290f2b00 --label io.tuneops.engine=sglang --label io.tuneops.experiment=llama8b-h100-batching --label io.tuneops.trial=adb4290f2b00 --env HF_HUB_OFFLINE=1 --publish 30000/tcp --gpus 1 --shm-size 16g --ipc host --volume ~/.cache/huggingface:/root/.cache/huggingface:ro lmsysorg/sglang:v0.5.5 python3 -m sglang.launch_server --model-path meta-llama/Llama-3.1-8B-Instruct --served-model-name llama-3.1-8b --host 0.0.0.0 --port 30000 --chunked-prefill-size 8192 --disable-radix-cache --enable-metrics --log-level warning --max-running-requests 64 --mem-fraction-static 0.8 --schedule-policy lpm
