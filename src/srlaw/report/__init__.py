"""What a person reads about a law: its report and plots."""
