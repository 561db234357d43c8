#!/bin/sh
# Starts the same container as docker.json (`tuneops render` wrote this file; edit the
# experiment, not this file). The shell expands a leading ~ in volume paths at run time;
# a ./ volume path is relative to the folder this is run from (the repository root).
# trial: "5e3a7c94a67d"
docker run --detach --name tuneops-llama8b-h100-vllm-5e3a7c94a67d --label io.tuneops.engine=vllm --label io.tuneops.experiment=llama8b-h100-vllm --label io.tuneops.trial=5e3a7c94a67d --env HF_HUB_OFFLINE=1 --publish 8000/tcp --gpus 1 --ipc host --volume ~/.cache/huggingface:/root/.cache/huggingface:ro vllm/vllm-openai:v0.33.0 meta-llama/Llama-3.1-8B-Instruct --served-model-name llama-3.1-8b --host 0.0.0.0 --port 8000 --compilation-config '{"cudagraph_mode":"FULL_AND_PIECEWISE"}' --disable-log-stats --disable-chunked-prefill --disable-prefix-caching --gpu-memory-utilization 0.85 --max-model-len 8k --max-num-seqs 256 --tensor-parallel-size 1
