// Tests for StudyEngine.
