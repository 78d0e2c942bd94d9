"""The distillation algorithm's parts: losses, weight balancers, adversarial batches, augmentation, teachers and
the checks of the arguments they receive. Built on torch and ART only; no trainer, recipe or command here."""
