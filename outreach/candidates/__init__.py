"""Pure reminder rules: which stage of which reminder is due on a date.

Nothing here imports the database, the web, SMTP or the scheduler: the rules take frozen
facts (`facts.VehicleFacts`, `facts.PolicyFacts`), the loaded `rules.Rules` and a date, and
return `facts.Candidate` values.
"""
