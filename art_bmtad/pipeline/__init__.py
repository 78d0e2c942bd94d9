"""What the commands share: a recipe turned into data, student and teachers (:mod:`.components`), teachers
prepared (:mod:`.teacher_prep`), one defence trained (:mod:`.training`), and a run's inputs checked before any
work (:mod:`.checks`)."""
