"use strict";
// images_app's Swagger UI: drf-spectacular's page plus one plugin. The upload's body depends on
// the X-Api-Version header (1-2: product_image; 3-7: product_image and type; 8+: image and
// type), which OpenAPI 3.0 cannot express; the operation carries the rule as
// "x-fields-by-version" and this plugin shows the fields of the version chosen in the form.
// It wraps SwaggerUIBundle before drf-spectacular's script (included below) calls it.

const imagesAppChosenVersion = (system, path, method, rule) => {
  const parameters = system.getState().getIn(["spec", "meta", "paths", path, method, "parameters"]);
  let version = rule.get("default");
  if (parameters) {
    parameters.forEach((parameter, key) => {
      const value = parameter && parameter.get ? parameter.get("value") : undefined;
      if (key.startsWith("header." + rule.get("header") + ".") && value != null && String(value).trim() !== "") {
        version = Number(String(value).trim());
      }
    });
  }
  return version;
};

// The version as the form has it now; re-rendered on every change of the store, because
// Swagger UI's request body is a pure component that does not see parameter changes.
const imagesAppUseVersion = (system, path, method, rule) => {
  const React = system.React;
  const read = () => (rule ? imagesAppChosenVersion(system, path, method, rule) : null);
  const [version, setVersion] = React.useState(read);
  React.useEffect(() => system.getStore().subscribe(() => setVersion(read())), [path, method]);
  return version;
};

const imagesAppFieldsFor = (system, path, method) => {
  const rule = system.specSelectors.specJson().getIn(["paths", path, method, "x-fields-by-version"]);
  if (!rule) {
    return null;
  }
  const version = imagesAppChosenVersion(system, path, method, rule);
  const range = rule.get("ranges").find((r) => r.get("from") <= version && version <= r.get("to"));
  return range ? range.get("fields") : null;
};

const imagesAppVersionFields = (system) => ({
  statePlugins: {
    oas3: {
      wrapSelectors: {
        // Swagger UI checks the schema's required fields before sending; only the chosen
        // version's fields are in the form, so only those can be missing.
        validateShallowRequired: (original) => (state, pathMethod) => {
          const missing = original(state, pathMethod);
          const fields = imagesAppFieldsFor(system, pathMethod[0], pathMethod[1]);
          return fields && Array.isArray(missing) ? missing.filter((name) => fields.includes(name)) : missing;
        },
      },
    },
  },
  wrapComponents: {
    RequestBody: (Original, system) => (props) => {
      const React = system.React;
      const specPath = props.specPath;
      const path = specPath && specPath.get(1);
      const method = specPath && specPath.get(2);
      const rule = path && system.specSelectors.specJson().getIn(["paths", path, method, "x-fields-by-version"]);
      const version = imagesAppUseVersion(system, path, method, rule);
      const schemaPath = ["content", "multipart/form-data", "schema"];
      const schema = props.requestBody && props.requestBody.getIn(schemaPath);
      const range = rule && rule.get("ranges").find((r) => r.get("from") <= version && version <= r.get("to"));
      if (!range || !schema || !schema.get("properties")) {
        return React.createElement(Original, props);
      }
      const fields = range.get("fields");
      const shown = schema
        .update("properties", (properties) => properties.filter((_, name) => fields.includes(name)))
        .set("required", fields);
      const requestBody = props.requestBody.setIn(schemaPath, shown);
      return React.createElement(Original, Object.assign({}, props, { requestBody, key: "v" + version }));
    },
  },
});

{
  const original = SwaggerUIBundle;
  window.SwaggerUIBundle = Object.assign(
    (options) => original(Object.assign({}, options, {
      plugins: [...(options.plugins || []), imagesAppVersionFields],
    })),
    original,
  );
}

{% include "drf_spectacular/swagger_ui.js" %}
