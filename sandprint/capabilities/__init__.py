"""Linux capabilities: which ones a recorded workload needed (:mod:`.needed`), their names
(:mod:`.names`), and dropping every other one before exec (:mod:`.drop`)."""
