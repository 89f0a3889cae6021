# The renditions column holds the same JSON as before; only its Python type changed (a record per
# rendition, images_app.fields.RenditionsField). State only: SQLite would otherwise rebuild the
# whole image table for a change the database cannot see.

import images_app.fields
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('images_app', '0002_scale_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name='image',
                    name='renditions',
                    field=images_app.fields.RenditionsField(default=dict, editable=False),
                ),
            ],
        ),
    ]
