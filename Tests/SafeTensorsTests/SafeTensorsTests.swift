// Tests for SafeTensors.
