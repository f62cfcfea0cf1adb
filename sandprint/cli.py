"""Command line: thin click commands over the library."""
import click


@click.group()
def main():
    """sandprint"""
