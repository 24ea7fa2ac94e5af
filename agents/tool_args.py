"""The arguments each tool takes, as the model sees them: their field descriptions are part
of the tool schemas, and so of the response-cache keys.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ToolArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ListArgs(ToolArgs):
    path: str = Field(".", description="Folder to list, relative to the workspace root.")


class ReadArgs(ToolArgs):
    path: str = Field(description="File to read, relative to the workspace root.")


class WriteArgs(ToolArgs):
    path: str = Field(description="File to create or overwrite, relative to the workspace root.")
    content: str = Field(description="The complete new content of the file.")


class EditArgs(ToolArgs):
    path: str = Field(description="File to edit, relative to the workspace root.")
    old: str = Field(description="Exact text to replace; must occur exactly once.")
    new: str = Field(description="Replacement text.")


class SearchArgs(ToolArgs):
    pattern: str = Field(
        description="Regular expression to look for (Python syntax without lookaround "
        "or backreferences)."
    )
    path: str = Field(".", description="File or folder to search, relative to the root.")


class CommitArgs(ToolArgs):
    message: str = Field(min_length=1, description="Commit message.")


class NoArgs(ToolArgs):
    pass
