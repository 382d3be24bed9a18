"""Staff services shared by the console, the JSON API and the CLI: users, sessions, audit,
campaigns, previews and customer requests (APPI Art. 33–35)."""
