"""API key: env RLAIFV_API_KEY over serve.api_key; Bearer token compared exactly."""
import pytest

from rlaifv.serving.openai_schema import ApiError, check_authorization, resolve_api_key

pytestmark = pytest.mark.cpu


def test_resolve_api_key_prefers_env_and_treats_empty_as_unset():
    assert resolve_api_key("from-config", {"RLAIFV_API_KEY": "from-env"}) == "from-env"
    assert resolve_api_key("from-config", {}) == "from-config"
    assert resolve_api_key("from-config", {"RLAIFV_API_KEY": ""}) == "from-config"
    assert resolve_api_key(None, {}) is None
    assert resolve_api_key("", {}) is None


def test_no_key_configured_means_open():
    check_authorization(None, None)
    check_authorization("Bearer anything", None)


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Basic s3cret", "s3cret", "Bearer s3cre",
                                    "Bearer s3cret2", "Bearer S3CRET"])
def test_wrong_or_missing_key_is_401(header):
    with pytest.raises(ApiError) as info:
        check_authorization(header, "s3cret")
    assert (info.value.status, info.value.code, info.value.type) == (401, "invalid_api_key", "invalid_request_error")


@pytest.mark.parametrize("header", ["Bearer s3cret", "bearer s3cret", "  Bearer s3cret  "])
def test_right_key_passes(header):
    check_authorization(header, "s3cret")
