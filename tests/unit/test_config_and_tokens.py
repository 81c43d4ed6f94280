import pytest

from greenhook.config import ConfigError, IngestConfig, ProcessConfig, parse_cidrs
from greenhook.tokens import TokenUnavailable, tokens_from_secret

INGEST_ENV = {
    "QUEUE_URL": "https://sqs.example/q.fifo",
    "PAYLOAD_BUCKET": "bucket",
    "TOKEN_SECRET_NAME": "arn:secret",
    "ALLOWED_CIDRS": "51.250.84.44/32,::1/128",
}


def test_ingest_config_reads_and_validates():
    config = IngestConfig.from_env(INGEST_ENV)
    assert config.token_cache_seconds == 300
    assert [str(n) for n in config.allowed_networks] == ["51.250.84.44/32", "::1/128"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"QUEUE_URL": ""}, "QUEUE_URL is required"),
        ({"ALLOWED_CIDRS": " , "}, "ALLOWED_CIDRS is empty"),
        ({"ALLOWED_CIDRS": "51.250.84.44/33"}, "invalid network"),
        ({"TOKEN_CACHE_SECONDS": "soon"}, "whole number"),
        ({"TOKEN_CACHE_SECONDS": "0"}, "at least 1"),
    ],
)
def test_ingest_config_fails_fast_with_a_clear_message(change, message):
    with pytest.raises(ConfigError, match=message):
        IngestConfig.from_env({**INGEST_ENV, **change})


def test_process_config_requires_the_table():
    with pytest.raises(ConfigError, match="TABLE_NAME"):
        ProcessConfig.from_env({"PAYLOAD_BUCKET": "b", "ARCHIVE_STREAM_NAME": "a"})
    with pytest.raises(ConfigError, match="ARCHIVE_STREAM_NAME"):
        ProcessConfig.from_env({"TABLE_NAME": "t", "PAYLOAD_BUCKET": "b"})
    env = {"TABLE_NAME": "t", "PAYLOAD_BUCKET": "b", "ARCHIVE_STREAM_NAME": "a"}
    config = ProcessConfig.from_env(env)
    assert (config.archive_stream_name, config.chats_in_parallel) == ("a", 4)
    assert ProcessConfig.from_env({**env, "CHATS_IN_PARALLEL": "1"}).chats_in_parallel == 1


def test_host_bits_in_a_cidr_are_tolerated():
    assert str(parse_cidrs("51.250.84.44/24")[0]) == "51.250.84.0/24"


@pytest.mark.parametrize(
    ("secret", "tokens"),
    [
        ('{"token": "abc"}', ("abc",)),
        ('{"token": "new", "previous_token": "old"}', ("new", "old")),
        ('{"token": "new", "previous_token": ""}', ("new",)),
        ("plain-token", ("plain-token",)),
    ],
)
def test_tokens_from_secret(secret, tokens):
    assert tokens_from_secret(secret) == tokens


@pytest.mark.parametrize("secret", ['{"token": ""}', "{}", '{"token": 5}', "{not json", "  "])
def test_secret_without_a_token_fails_closed(secret):
    with pytest.raises(TokenUnavailable):
        tokens_from_secret(secret)
