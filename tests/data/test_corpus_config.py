"""The corpus section reaches the FineWeb reader whole: streaming, shuffle buffer and seed included."""

from __future__ import annotations

from regeo.config import validate_config
from regeo.stages.data import fineweb_config


def test_every_corpus_key_reaches_the_reader():
    cfg = validate_config({"corpus": {"source": "local", "paths": ["/data/*.parquet"], "num_shards": 4,
                                      "max_documents": 1000, "streaming": False, "shuffle_buffer": 500, "seed": 3},
                           "registers": {"method": "classifier"}})
    reader = fineweb_config(cfg["corpus"])
    assert (reader.source, list(reader.paths), reader.num_shards, reader.max_documents) == \
        ("local", ["/data/*.parquet"], 4, 1000)
    assert (reader.streaming, reader.shuffle_buffer, reader.seed) == (False, 500, 3)
    assert cfg["registers"]["classifier_tokenizer"] == "FacebookAI/xlm-roberta-large"  # the schema's default


def test_defaults_stream_in_order():
    reader = fineweb_config(validate_config({"corpus": {"source": "hub", "max_documents": 10},
                                             "registers": {"method": "classifier"}})["corpus"])
    assert reader.streaming and reader.shuffle_buffer == 0 and reader.dataset == "HuggingFaceFW/fineweb"
