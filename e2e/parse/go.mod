// A separate module only so that the go tool never walks node_modules.
module vestibule.invalid/e2e-parse

go 1.26
