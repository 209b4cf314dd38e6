"""Staff accounts: users and roles, sign-in sessions and the login lock-out, departments.

Below the features and the shared web layer: it knows the store, never HTTP.
"""
