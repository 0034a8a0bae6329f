pytest_plugins = ["tests.support.db_fixtures"]
