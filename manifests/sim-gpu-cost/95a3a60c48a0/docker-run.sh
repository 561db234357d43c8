#!/bin/sh
# Starts the same container as docker.json (`tuneops render` wrote this file; edit the
# experiment, not this file). The shell expands a leading ~ in volume paths at run time;
# a ./ volume path is relative to the folder this is run from (the repository root).
# trial: "95a3a60c48a0"
docker run --detach --name tuneops-sim-gpu-cost-95a3a60c48a0 --label io.tuneops.engine=sim --label io.tuneops.experiment=sim-gpu-cost --label io.tuneops.trial=95a3a60c48a0 --publish 30000/tcp tuneops/sim:latest python3 -m tuneops.engines.sim --model-path meta-llama/Llama-3.2-1B --served-model-name llama-3.2-1b --host 0.0.0.0 --port 30000 --gpu-type L40S --max-running-requests 16 --time-scale 0.02
