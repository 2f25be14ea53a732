"""The notifications service: residents who agreed to be told hear when their case moves."""
