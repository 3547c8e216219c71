"""SuperWhisper TTS pipeline: chunking, client, embedded service, assembly and the CLI."""
