"""The simulator honours SGLang's real flag names, read from the committed flag catalog."""

from __future__ import annotations

import pytest
from tuneops.engines.sim import config

from tests.sim_helpers import REAL_CATALOG, STANDIN_FLAGS


def real_parser():
    return config.build_parser(config.load_catalog(REAL_CATALOG))


def model_for(parser, *flags: str):
    return config.perf_model(parser.parse_args(["--model-path", "meta-llama/Llama-3.1-8B",
                                                *flags]))


def test_sglang_0_5_23_decode_graph_size_flag_reaches_the_model():
    parser = real_parser()
    default = model_for(parser)
    small = model_for(parser, "--cuda-graph-max-bs-decode", "24")
    assert small.cuda_graph_max_bs == 24 != default.cuda_graph_max_bs
    assert small.plan.cuda_graph_gib < default.plan.cuda_graph_gib
    assert small.startup_seconds() < default.startup_seconds()  # fewer graphs captured


def test_the_plain_flag_is_refused_by_the_real_catalog_as_an_ambiguous_prefix(capsys):
    with pytest.raises(SystemExit) as exc:
        real_parser().parse_args(["--model-path", "m", "--cuda-graph-max-bs", "24"])
    assert exc.value.code == 2
    assert "ambiguous option" in capsys.readouterr().err


def test_disabling_decode_graphs_disables_the_modelled_graphs():
    model = model_for(real_parser(), "--disable-decode-cuda-graph")
    assert model.s.disable_cuda_graph and model.plan.cuda_graph_gib == 0


def test_an_older_catalog_with_the_plain_flag_still_sets_the_size(tmp_path):
    import json

    path = tmp_path / "sglang.json"
    flags = {k: v for k, v in STANDIN_FLAGS.items() if k != "cuda-graph-max-bs-decode"}
    path.write_text(json.dumps({"engine": "sglang", "flags": flags}))
    parser = config.build_parser(config.load_catalog(path))
    assert model_for(parser, "--cuda-graph-max-bs", "48").cuda_graph_max_bs == 48
