#!/bin/sh
# Starts the same container as docker.json (`tuneops render` wrote this file; edit the
# experiment, not this file). The shell expands a leading ~ in volume paths at run time;
# a ./ volume path is relative to the folder this is run from (the repository root).
# trial: "1d026ecdddb5"
docker run --detach --name tuneops-sim-trace-1d026ecdddb5 --label io.tuneops.engine=sim --label io.tuneops.experiment=sim-trace --label io.tuneops.trial=1d026ecdddb5 --publish 30000/tcp tuneops/sim:latest python3 -m tuneops.engines.sim --model-path meta-llama/Llama-3.1-8B --served-model-name llama-3.1-8b --host 0.0.0.0 --port 30000 --gpu-type H100 --max-running-requests 8 --time-scale 0.02
