"""citebot: the intake bot of the Cité éducative de Liévin's call for projects."""

__version__ = "0.1.0"
