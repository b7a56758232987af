from rlaifv.config.load import ConfigError, load_config
from rlaifv.config.schema import BUILTIN_PREFIX, Config

__all__ = ["BUILTIN_PREFIX", "Config", "ConfigError", "load_config"]
