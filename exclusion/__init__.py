"""Step 3: from TracIn scores to an exclusion list (`generate.generate_exclusions`): the rules,
the list file, the reasons in the sample metadata, and a picture. `exclusion.config` imports no torch."""
