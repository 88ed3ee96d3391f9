"""Official OpenAPI excerpts the emulator validates against (shipped as package data)."""
