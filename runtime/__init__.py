"""wsc runtime: loads `.wafer` artifacts and executes them on the CPU. Never imports the compiler."""
