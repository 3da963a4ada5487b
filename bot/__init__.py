"""The gateway of the Yiwu expat assistant: channels, language, storage, staff-facing tools."""
