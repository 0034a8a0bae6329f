pytest_plugins = ["tests.support.db_fixtures", "tests.support.e2e_summaries"]
