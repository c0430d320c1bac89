"""The catalog: schema, migrations, queries and the content-addressed audio store."""
