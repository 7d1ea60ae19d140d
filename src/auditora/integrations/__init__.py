"""Optional integrations (OpenTelemetry, OpenAI, Anthropic); each imports its package lazily."""
