"""llama.cpp's server from the xllamacpp wheel, started like ``llama-server``."""
