"""Operations run from the deployer's machine against a stack (make roll)."""
