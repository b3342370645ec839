"""The engine composes the loop: planner, inventory, health and the Reconciler."""
