"""The pull-request bot as `tuneops ci …` steps: plan, run, publish, comment (commands.py)."""
