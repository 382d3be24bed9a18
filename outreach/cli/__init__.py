"""The `outreach` command line. Each area has its own module; `main` assembles them."""
