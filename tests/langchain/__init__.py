"""Tests of the LangChain adapter (a package so its conftest does not clash with other suites')."""
